#!/usr/bin/env bash
# Fetch into .whl/ the wheels the device image lacks (docs/benchmarks.md, "GPU"), for its
# Python 3.12 on x86-64, at the versions this checkout's .venv holds. Run in the repository
# root before `bash tools/gpu_session.sh`; .gitignore keeps .whl/ out of the project.
set -euo pipefail
names="zarr numcodecs donfig google-crc32c kornia kornia_rs albumentations albucore pydantic
pydantic_core annotated-types typing-inspection typing_extensions simsimd stringzilla"
platforms=""
for p in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=" --platform ${p}_x86_64"
done
for name in $names; do
    version=$(.venv/bin/python -m pip show "$name" | sed -n 's/^Version: //p')
    # shellcheck disable=SC2086
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp $platforms -d .whl "$name==$version"
done
ls .whl
