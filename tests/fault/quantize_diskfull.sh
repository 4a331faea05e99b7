#!/usr/bin/env bash
# A full disk: OUT on a small tmpfs in a private mount namespace (skipped
# where one cannot be mounted). Full while writing the layers, and full
# while assembling the checkpoint: a clear error, no temporaries, nothing
# that verifies, the finished layers kept; after space is freed, --resume
# gives the bytes of an uninterrupted run.
if [ -z "${AWQ_FAULT_NS:-}" ]; then
    if ! command -v unshare >/dev/null 2>&1 || ! unshare -m true 2>/dev/null; then
        echo "SKIP: no private mount namespace here (unshare -m), so no small tmpfs to fill"
        exit 77
    fi
    exec unshare -m env AWQ_FAULT_NS=1 bash "$0"
fi
. "$AWQ_TESTS/fault/quantize_lib.sh"

FS=$T/fs
mkdir -p "$FS"
small_fs() { # small_fs SIZE: a fresh tmpfs of SIZE on $FS
    umount "$FS" 2>/dev/null
    mount -t tmpfs -o "size=$1" tmpfs "$FS"
}
if ! small_fs 200k 2>"$T/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here: $(cat "$T/mount.err")"
    exit 77
fi

# 1. Full while the layers are written (one layer file is ~120 KB).
expect_exit 1 "disk full during the layers" quantize "$FS/out"
stderr_has "No space left on device"
check "full during the layers: no temporaries" no_temporaries "$FS/out"
check "full during the layers: output does not verify" does_not_verify "$FS/out"
check "full during the layers: the first layer is kept" \
    test -e "$FS/out/.awqkit-partial/layer-00000/model.safetensors"
mount -o remount,size=4m "$FS"
expect_exit 0 "--resume once there is space" quantize "$FS/out" --resume
check "full during the layers, resumed: identical" same_output "$REF" "$FS/out"

# 2. Full while the checkpoint is assembled (layers ~360 KB, output ~520 KB).
small_fs 600k
expect_exit 1 "disk full while assembling" quantize "$FS/out2"
stderr_has "No space left on device"
check "full while assembling: every layer is kept" \
    test -e "$FS/out2/.awqkit-partial/layer-00002/model.safetensors"
check "full while assembling: no temporaries" no_temporaries "$FS/out2"
check "full while assembling: output does not verify" does_not_verify "$FS/out2"
mount -o remount,size=4m "$FS"
expect_exit 0 "--resume once there is space" quantize "$FS/out2" --resume
check "full while assembling, resumed: identical" same_output "$REF" "$FS/out2"
umount "$FS"
finish
