"""The `awqkit` console script: runs the awqkit program built into the
package (awqkit/_native/bin/awqkit) with the same arguments."""
from __future__ import annotations

import os
import sys

from ._lib import NATIVE


def program() -> str:
    """Path of the bundled awqkit program."""
    return os.path.join(NATIVE, "bin", "awqkit")


def main() -> None:
    exe = program()
    if not os.access(exe, os.X_OK):
        sys.stderr.write(
            f"awqkit: the awqkit program is missing from the package ({exe}); "
            "reinstall with `pip install .` from the awqkit source tree\n"
        )
        sys.exit(1)
    os.execv(exe, ["awqkit", *sys.argv[1:]])


if __name__ == "__main__":
    main()
