"""fp4hw: the command-line front end and the toolchain finder (``fp4hw.toolchain``).

The work is done by the ``golden``, ``hdl``, ``synth`` and ``verification`` packages.
"""

__version__ = "0.1.0"
