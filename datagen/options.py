"""What the datagen commands' options offer, without numpy, OpenCV, zarr or h5py.

:mod:`datagen.commands` builds each option's help from these values and the modules that act
on an option import them from here, so each has one source and a command's ``--help`` costs no
heavy import. The build's defaults are :class:`datagen.config.BuildConfig`'s.
"""

from __future__ import annotations

from typing import Literal, get_args

#: The filters of ``fgd datagen export --compression`` (:mod:`datagen.export`).
Compression = Literal["gzip", "lzf", "none"]
COMPRESSIONS: tuple[str, ...] = get_args(Compression)
DEFAULT_COMPRESSION: Compression = "gzip"
