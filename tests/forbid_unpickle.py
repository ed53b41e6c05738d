"""``python tests/forbid_unpickle.py ARGS`` = ``python -m electionlib ARGS`` with every pickling
receive forbidden on rank 0 from its first instruction: mpi4py's own pickle hook
(``MPI.pickle.__init__(dumps, loads)``) makes ``recv``, ``gather``, ``Message.recv`` and
the like write ``$ELECTIONLIB_UNPICKLE_MARKER`` and raise. Set before the library runs, it
does not depend on the library's own defence (``mpi_transport.forbid_unpickle``, which it
switches off so that its recording hook stays in place), so a run that unpickles anything on
rank 0 fails whatever the library does.
"""

import os
import pickle
import runpy
import sys


def main() -> None:
    from mpi4py import MPI

    marker = os.environ["ELECTIONLIB_UNPICKLE_MARKER"]
    if MPI.COMM_WORLD.Get_rank() == 0:

        def loads(*args, **kwargs):
            with open(marker, "w") as fh:
                fh.write("rank 0 unpickled data it received\n")
            raise RuntimeError("rank 0 tried to unpickle received data")

        MPI.pickle.__init__(pickle.dumps, loads)
        # keep this hook, which records the attempt, in place of the library's own (which
        # raises without a record): the library's defence is tested on its own elsewhere
        import electionlib.mpi_transport as X

        X.forbid_unpickle = lambda MPI, on_call=None: None
    sys.argv = ["electionlib", *sys.argv[1:]]
    runpy.run_module("electionlib", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
