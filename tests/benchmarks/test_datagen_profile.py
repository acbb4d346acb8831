"""`benchmarks.datagen_profile`: py-spy's stacks sorted into the build's stages."""

from __future__ import annotations

from pathlib import Path

from benchmarks import datagen_profile

SHARD = "<module> (cli.py:70);build_store (datagen/build.py:105);build_shard (datagen/build.py:230)"


def test_samples_go_to_the_first_stage_in_their_stack(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(
        "\n".join(
            [
                f"{SHARD};_render_into (datagen/build.py:440);_encode_in_slot (build.py:480);"
                "encode_jpeg (datagen/imaging.py:90) 7",
                f"{SHARD};ShardLayout.encode (datagen/shards.py:64) 3",
                # Everything under shade() is the shadow's.
                f"{SHARD};render (composite.py:200);shade (shadows.py:300);"
                "_gaussian_blur (shadows.py:590) 5",
                f"{SHARD};_render_into (datagen/build.py:430) 2",
                # Outside build_shard (imports, asset loading): not counted.
                "<module> (cli.py:70);load_assets (datagen/assets.py:90) 11",
            ]
        )
        + "\n"
    )
    stages, total = datagen_profile._stage_samples(raw)
    assert total == 17
    assert stages["JPEG coding of the box"] == 7
    assert stages["shard objects (zstd, index, checksum, write)"] == 3
    assert stages["shadow geometry and blur"] == 5
    assert stages[datagen_profile.OTHER] == 2
    assert sum(stages.values()) == total
