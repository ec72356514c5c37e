"""Files: the ``.npz`` archive format, a model's description, checkpoints and the checks of what is read.

* :mod:`minnet.io.archive`: the file format itself, written atomically and
  read with memory bounded by the file's size;
* :mod:`minnet.io.serialize`: :func:`~minnet.save` and :func:`~minnet.load`,
  a model to and from its JSON description and arrays;
* :mod:`minnet.io.checkpoint`: what :class:`~minnet.Checkpoint` writes and
  ``fit(..., resume=path)`` reads;
* :mod:`minnet.io.fields`: the checks of every field read from a file.

Nothing is imported here: the layers import :mod:`minnet.io.fields`, which
must not pull in :mod:`minnet.io.serialize` (it imports the layers).
"""
