"""Containers: run an image isolated by the kernel, the way ``docker run`` does.

Nothing is imported here, so each command pays only for the modules it uses.

* Records and lookups (what ``ps`` and ``inspect`` read): ``records`` (a container's
  row), ``containers`` (``get``, ``list_containers``), ``inspect``, ``filters``
  (``ps --filter``), ``containerdir`` (a container's directory and its lock).
* The verbs: ``create``; ``supervise`` (``run``, ``start``: hand a container to a
  monitor process of its own, which stays its parent until it exits), ``spawn``
  (starting monitors), ``slim`` (a long-running container's monitor, re-executed
  small), ``channel`` (how viewers reach
  a monitor), ``execute`` (``exec``), ``lifecycle`` (``stop``, ``kill``, ``wait``,
  ``rm``), ``removal`` (a container's files, and finishing one whose monitor was
  killed), ``attach``, ``cp``, ``top``, ``stats``, ``prune``.
* Starting a process: ``hostconfig`` (Docker's create request merged with the image
  config, and the ``spec.ContainerSpec`` a start needs), ``launch`` (fork), ``handoff``
  (what the parent and the child pass each other), ``child``, ``rootfs``, ``process``,
  ``caps``, ``seccomp`` and ``seccomp_filter`` (in the child, up to exec),
  ``childio`` and ``stdio`` (streams, signals, the json-file log), ``signals``, ``times``.
* Resources: ``limits`` and ``cgroups``; ``network``, ``ports`` and ``portproxy``;
  ``devices``, ``gpus``, ``cdi`` and ``hooks``; ``volumes`` and ``mounts``; ``hostfiles``.
"""
