"""Label-efficiency study on MIT-BIH DS1 -> DS2 beats, per seed: ``leanecg study labels --task mitdb-aami``.

Kept under its earlier name; see :mod:`study_alias` for the argument spelling it accepts.
"""

from study_alias import forward

if __name__ == "__main__":
    forward(["study", "labels", "--task", "mitdb-aami"])
