"""sudoers drop-ins that are checked by visudo before sudo ever reads them."""

from __future__ import annotations

import io
import re
import shlex

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.facts.files import FileContents


@operation()
def sudoers_file(filename: str, content: str):
    """
    Install ``/etc/sudoers.d/<filename>`` only after ``visudo -c`` accepts it.

    + filename: the drop-in's name (letters, digits, ``-`` and ``_``: sudo skips names
      with dots)
    + content: the rules

    .. code:: python

        sudoers_file(name="Passwordless sudo for admins", filename="snakepit-admins",
                     content="%admin ALL=(ALL:ALL) NOPASSWD: ALL\\n")
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", filename):  # "$" would let a final "\n" through
        raise OperationError(f"sudoers drop-in name {filename!r} would be skipped by sudo")
    path = f"/etc/sudoers.d/{filename}"
    current = host.get_fact(FileContents, path=path)
    # FileContents gives lines without their "\n": whether the file ends in one is not seen.
    if current is not None and "\n".join(current) == content.removesuffix("\n"):
        host.noop(f"{path} is up to date")
        return
    staging = f"/etc/sudoers.d/.{filename}.new"  # sudo ignores names with a dot
    yield FileUploadCommand(io.BytesIO(content.encode()), staging)
    yield StringCommand(
        f"chmod 0440 {shlex.quote(staging)} && visudo -cf {shlex.quote(staging)} && "
        f"mv -f {shlex.quote(staging)} {shlex.quote(path)} || "
        f"{{ rm -f {shlex.quote(staging)}; exit 1; }}"
    )
