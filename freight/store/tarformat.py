"""What layer tars hold beyond plain tar: whiteouts, and xattrs in PAX records.

An OCI whiteout ``.wh.NAME`` deletes NAME from the layers below; ``.wh..wh..opq`` in a
directory hides all they put there. In an overlayfs upper or lower dir the same is a
0:0 character device and the ``trusted.overlay.opaque=y`` xattr. Extended attributes
travel as ``SCHILY.xattr.NAME`` PAX records; overlayfs's own are never archived.
"""

BLOCK = 512
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
PAX_XATTR = "SCHILY.xattr."
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
