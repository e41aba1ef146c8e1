"""A build's provenance: an in-toto statement with a SLSA provenance v1 predicate.

Every build records what went in — the Dockerfile's digest, the context's digest (the
same content digest ``COPY`` uses: names, kinds, modes and content, no mtimes, after
``.dockerignore``), the digests of the images it read (``FROM``, ``COPY --from``), the
build args (never ``--secret`` values: those are not build args), the target, the
platform, the build's time setting and freight's version — and keeps the statement
beside the image as an OCI referrer artifact (``freight.store.referrers``), never in
its config: the image ID and manifest digest are the same with and without it. The
statement has no wall-clock time, so it is as reproducible as the image.

Format (https://slsa.dev/spec/v1.0/provenance): ``_type``
``https://in-toto.io/Statement/v1``, ``subject`` the image manifest's digest,
``predicateType`` ``https://slsa.dev/provenance/v1``; ``buildDefinition.externalParameters``
holds what the user chose, ``resolvedDependencies`` the Dockerfile, the context and
each image read, ``runDetails.builder`` names freight and its version.
"""

from __future__ import annotations

import hashlib

from freight import __version__
from freight.image.canonical import canonical_json
from freight.image.mediatypes import OCI_MANIFEST
from freight.store import referrers

TYPE_CHECKING = False  # see docs/architecture.md, "Start-up time"
if TYPE_CHECKING:
    from typing import Any

    from freight.builder.context import BuildContext
    from freight.builder.state import BuildOptions
    from freight.store.images import Image
    from freight.store.store import Store

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://freight.build/dockerfile/v1"  # names the parameters' schema below
BUILDER_ID = "https://freight.build/builder"
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"


def statement(image: Image, opts: BuildOptions, ctx: BuildContext, bases: dict[str, Image]) -> dict[str, Any]:
    """The statement for ``image``, built from ``opts`` and ``ctx``, having read ``bases``
    (the build's images by the name it used)."""
    dependencies: list[dict[str, Any]] = [
        {"name": "dockerfile", "uri": ctx.dockerfile_name,
         "digest": {"sha256": hashlib.sha256(ctx.dockerfile.encode()).hexdigest()}},
        {"name": "context", "uri": "context", "digest": {"sha256": ctx.tree().checksum("")}},
    ]
    for name, base in sorted(bases.items()):
        dependencies.append({"name": name, "uri": f"pkg:docker/{name.split(' for ')[0]}",
                             "digest": {"sha256": base.manifest_digest.removeprefix("sha256:")},
                             "annotations": {"image.id": base.id}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": image.repo_tags[0] if image.repo_tags else image.id,
                     "digest": {"sha256": image.manifest_digest.removeprefix("sha256:")}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"dockerfile": ctx.dockerfile_name, "buildArgs": dict(sorted(
                    opts.build_args.items())), "target": opts.target, "platform": opts.platform,
                    "labels": dict(sorted(opts.labels.items())), "timestamp": opts.timestamp},
                "internalParameters": {"sourceDateEpoch": opts.source_date_epoch},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {"builder": {"id": BUILDER_ID, "version": {"freight": __version__}}},
        },
    }


def record(store: Store, image: Image, opts: BuildOptions, ctx: BuildContext, bases: dict[str, Image]) -> str:
    """Keep the build's statement beside ``image``; return the artifact manifest's digest."""
    subject = {"mediaType": image.manifest.get("mediaType") or OCI_MANIFEST, "digest": image.manifest_digest,
               "size": store.blobs.size(image.manifest_digest)}
    return referrers.attach(store, subject, referrers.IN_TOTO, referrers.IN_TOTO,
                            canonical_json(statement(image, opts, ctx, bases)),
                            {PREDICATE_ANNOTATION: PREDICATE_TYPE})
