"""Image archives: ``docker save``/``docker load`` tars and OCI image layouts.

Writing (from the store): :func:`save` streams images as one tar that is both
a Docker archive and an OCI image layout, as Docker 25+ writes it;
:func:`write_oci_layout` adds images to an OCI layout directory.

Reading (into the store, or anywhere): :func:`open_archive` opens a Docker
archive of any version or an OCI layout (tar, directory, compressed or not)
and lists its images with their blobs; :func:`read_oci_layout` and
:func:`read_docker_archive` insist on one format. :func:`load` verifies and
stores every image of an archive.
"""

from freight.archive.load import LoadedImage, load
from freight.archive.model import ArchiveImage
from freight.archive.reader import Archive, open_archive, read_docker_archive, read_oci_layout
from freight.archive.save import Selection, save, select_images, write_archive, write_oci_layout
from freight.archive.source import ArchiveError

__all__ = ["Archive", "ArchiveError", "ArchiveImage", "LoadedImage", "Selection", "load", "open_archive",
           "read_docker_archive", "read_oci_layout", "save", "select_images", "write_archive",
           "write_oci_layout"]
