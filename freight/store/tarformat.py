"""What layer tars hold beyond plain tar: whiteouts, and xattrs in PAX records.

An OCI whiteout ``.wh.NAME`` deletes NAME from the layers below; ``.wh..wh..opq`` in a
directory hides all they put there. In an overlayfs upper or lower dir the same is a
0:0 character device and the ``trusted.overlay.opaque=y`` xattr (``user.overlay.opaque`` in
a user namespace). Extended attributes
travel as ``SCHILY.xattr.NAME`` PAX records; overlayfs's own are never archived.
"""

from freight.settings import rootless

BLOCK = 512
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
# fuse-overlayfs marks an opaque directory of its upper dir with an OPAQUE_MARKER file and a
# whiteout device of this name (besides, where it may, the xattr), every new directory too
FUSE_OPAQUE_WHITEOUT = ".wh..opq"
FUSE_XATTRS = "user.fuseoverlayfs."  # fuse-overlayfs's own (its opaque mark among them): never archived
FUSE_OPAQUE_XATTR = FUSE_XATTRS + "opaque"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
USERNS_OPAQUE_XATTR = "user.overlay.opaque"  # overlayfs's with ``userxattr``, as mounted in a user namespace
PAX_XATTR = "SCHILY.xattr."
OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.", FUSE_XATTRS)


def opaque_xattr() -> str:
    """The xattr that makes a directory opaque for this process's overlay mounts: trusted.* for
    root, user.* in a user namespace (where trusted.* cannot be written; see ``Snapshots.prepare``)."""
    return USERNS_OPAQUE_XATTR if rootless() else OVERLAY_OPAQUE_XATTR
