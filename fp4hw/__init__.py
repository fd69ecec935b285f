"""fp4hw: the command-line front end (DESIGN §1: on top of every layer, imported by none).

The work is done by the ``golden``, ``hdl`` and ``synth`` packages; this package parses
arguments, reads the user's files (:mod:`fp4hw.tensor_io`), writes the export folders
(:mod:`fp4hw.export`) and draws progress (:mod:`fp4hw.progress`).
"""

__version__ = "0.1.0"
