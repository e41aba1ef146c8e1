"""Building images from Dockerfiles, as ``docker build`` (BuildKit) does.

* ``freight.builder.engine.build(store, BuildOptions) -> BuildResult``: the
  whole build (``BuildError`` on failure, ``error_report(err)`` for Docker's
  error block; the records are ``freight.builder.state``'s);
* ``freight.builder.cache.prune_cache(store, all) -> int``: ``builder prune``;
* ``freight.builder.changes``: config instructions, also for ``import``/``commit
  --change``;
* ``freight.builder.dockerfile``: the Dockerfile language (parser, variable
  expansion, stage graph); ``dockerignore``: ``.dockerignore``.

The engine's parts: ``state`` (options, the build's shared state, a stage's
State), ``schedule`` (stages on threads), ``bases`` (FROM), ``steps`` (a
stage's instructions), ``layers`` (cache hits, commits), ``copystep`` and
``copyadd`` (COPY/ADD), ``runstep``, ``runexec`` and ``runcontainer`` (RUN),
``export`` and ``output`` (the result), ``context`` and ``fsview`` (source
trees), ``gitsource`` (ADD from git), ``progress``.
"""
