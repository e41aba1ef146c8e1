"""``freight pull``: an image from a registry (``freight.registry.pull``) or an archive
transport (``oci:DIR[:ref]``...) into the store; exits 1 on any failure, as the docker CLI does."""

from __future__ import annotations

import argparse

from freight.cli.main import Subcommands, store
from freight.errors import InvalidArgument, NotFound
from freight.image import reference
from freight.registry.client import Registry
from freight.registry.progress import reporter
from freight.registry.pull import pull
from freight.registry.transportref import is_transport
from freight.store.images import Image
from freight.store.referrers import IN_TOTO


def register(sub: Subcommands) -> None:
    p = sub.add("pull", cmd_pull, help="Download an image from a registry")
    p.add_argument("--platform", help="pull this platform (os/arch[/variant]) of a multi-platform image")
    p.add_argument("-a", "--all-tags", action="store_true", help="download every tagged image")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress verbose output")
    p.add_argument("--provenance", action="store_true",
                   help="also fetch the image's provenance statement (referrers API or fallback tag)")
    p.add_argument("ref", metavar="NAME[:TAG|@DIGEST]",
                   help="an image, or oci:DIR[:ref], oci-archive:FILE[:ref], docker-archive:FILE[:ref]")


def cmd_pull(args: argparse.Namespace) -> int:
    progress = reporter(args.quiet)
    try:
        if is_transport(args.ref):
            image = pull(store(args), args.ref, args.platform, progress)
            print(image.repo_tags[0] if image.repo_tags else image.id)
            return 0
        ref = reference.parse(args.ref, default_tag=not args.all_tags)
        if args.all_tags and (ref.tag or ref.digest):
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        if not args.all_tags and not args.quiet and ref.tag and ref.digest is None \
                and ":" not in args.ref.rsplit("/", 1)[-1]:
            print(f"Using default tag: {ref.tag}", flush=True)
        for name in _tags_to_pull(ref) if args.all_tags else [str(ref)]:
            image = pull(store(args), name, args.platform, progress)
            if args.provenance:
                _pull_provenance(args, reference.parse(name), image)
    finally:
        progress.close()
    print(ref.repository if args.all_tags else str(ref))
    return 0


def _pull_provenance(args: argparse.Namespace, ref: reference.Reference, image: Image) -> None:
    """Keep the image's provenance beside it; no provenance is an error (the image stays)."""
    from freight.registry.referrers import pull_referrer  # only for --provenance

    found = pull_referrer(store(args), ref, image, IN_TOTO)
    if found is None:
        raise NotFound(f"no provenance found for {ref.familiar()}")
    print(f"Provenance: {found}", flush=True)


def _tags_to_pull(ref: reference.Reference) -> list[str]:
    with Registry(ref.domain) as registry:
        registry.ping()
        return [str(ref.with_tag(tag)) for tag in registry.tags(ref.path)]
