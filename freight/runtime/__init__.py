"""Containers: run an image isolated by the kernel, the way ``docker run`` does.

Nothing is imported here, so ``freight run`` pays only for the modules it uses.

* ``containers`` -- the library behind the CLI and the Docker API: ``create``,
  ``run``, ``start``, ``stop``, ``kill``, ``wait``, ``remove``, ``get``,
  ``list_containers``, ``exec_in``; state in the ``containers`` table.
* ``config`` -- Docker's create request merged with the image config, and the
  ``spec.ContainerSpec`` a start needs; ``volumes`` -- ``-v``, ``--mount``, volumes.
* ``launch`` -- fork a container process (``fork_container``, ``wait_exec``,
  ``exit_code``); it runs ``child`` (namespaces, ``rootfs``, ``process``) up to exec.
* ``stdio`` -- stream relay, json-file log, raw terminal; ``monitor`` -- the
  supervisor of a detached container; ``inspect`` -- Docker's inspect JSON.
* ``cgroups``, ``network``, ``devices`` -- limits, ports, devices and CDI (see their docstrings).
* ``attach``, ``copy`` (``cp``), ``top``, ``stats``, ``prune`` (stopped containers and
  volumes), ``filters`` (``ps --filter``), ``logs`` (``--since``/``--until`` times).
"""
