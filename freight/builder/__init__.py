"""Building images from Dockerfiles, as ``docker build`` (BuildKit) does.

* ``freight.builder.engine.build(store, BuildOptions) -> BuildResult``: the
  whole build (``BuildError`` on failure, ``error_report(err)`` for Docker's
  error block);
* ``freight.builder.cache.prune_cache(store, all) -> int``: ``builder prune``;
* ``freight.builder.parser`` / ``shellwords`` / ``dockerignore``: the
  Dockerfile language, variable expansion and ``.dockerignore``.

Everything else here is the engine's own: ``context`` (contexts and source
trees), ``fsview`` (reading snapshot stacks), ``copy`` (COPY/ADD),
``runstep``/``runsupport`` (RUN in a container), ``progress``, ``output``.
"""
