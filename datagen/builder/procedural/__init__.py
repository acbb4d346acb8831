"""Built-in procedural asset set: bg scenes with exact depth, and RGBA fg cutouts.

When the user gives no asset folders, fgd composites these instead of photos. Everything is drawn
with numpy from ``np.random.default_rng([salt, index, seed])``: no downloads, no files, no global
state, so the bytes depend only on the arguments.

Scenes (:func:`render_scene`)
-----------------------------
A scene is a small world of analytic primitives (the ground plane, an optional room shell seen from
inside, axis-aligned boxes, vertical cylinders and spheres standing on the ground), ray cast for
every pixel at once.

Camera model. World axes are x right, y up, z forward; the ground is the plane y = 0. A pinhole
camera sits at (0, h, 0), h being the camera height in metres, and looks horizontally (no tilt,
no roll), turned by a small yaw about the vertical. Its focal length is f pixels and its principal
point is (size / 2, horizon_y): image rows grow downwards, and the row horizon_y is the ground's
vanishing line (an off-centre principal point, as a shifted lens gives). Pixel (col, row) covers
[col, col + 1) x [row, row + 1). In camera coordinates (X right, Y up, Z along the optical axis)
the ray through image point (px, py) has direction ((px - size / 2) / f, (horizon_y - py) / f, 1);
its Z component is 1, so the ray parameter of a hit *is* the hit's Z-depth.

Depth is the Z of the nearest hit on the ray through each pixel centre (col + 0.5, row + 0.5),
clipped to max_depth (sky, far ground). On visible ground it is exactly
``ground_k / (row + 0.5 - horizon_y)`` with ``ground_k = f * h``. Colour comes from the same rays,
then is anti-aliased by adaptive supersampling: a pixel whose four sub-pixel rays do not all hit
the same face, or whose colour stands out from a neighbour's, becomes the mean of those four rays
(in linear light, before tone mapping and gamma encoding). Depth stays exact at pixel centres.

Cutouts (:func:`render_cutout`)
-------------------------------
A cutout is a stack of parts (head, torso, wheel, seat...), each a 2D signed distance field built
from circles, ellipses, tapered capsules, rounded boxes, polygons and lathe profiles, combined with
(smooth) unions. Parts are composited back to front; alpha is the SDF's coverage over a 1.5 px
ramp, so edges are soft and the interior is opaque. Each part is shaded from a pseudo-3D normal
(a rounded bevel read off its distance to the edge), with its own colour and texture, a little rim
light, optional gloss, and a contact shadow on the parts behind it.

Modules
-------
``common`` holds the helpers both halves share (seeding, noise, hashing, colour). ``scenes``:
``camera``, ``primitives`` and ``materials`` make up a world, ``lighting`` lights it, ``render``
ray casts and shades it; ``props`` are furniture and street objects, ``indoor`` and ``outdoor``
the layouts, and ``scene`` deals kinds and renders. ``cutouts``: ``shapes`` (SDFs), ``textures``,
``raster`` (parts, shading, compositing), the builders per category (``people``, ``animals``,
``furniture``, ``vehicles``, ``misc``), and ``cutout`` deals kinds and renders.
"""

from datagen.builder.procedural.cutouts.cutout import render_cutout
from datagen.builder.procedural.scenes.scene import Scene, render_scene

__all__ = ["Scene", "render_cutout", "render_scene"]
