"""Label-efficiency study on CinC 2017 (scratch vs SimCLR vs CLOCS-CMSC), per seed: ``leanecg study labels --task cinc2017``.

Kept under its earlier name; see :mod:`study_alias` for the argument spelling it accepts.
"""

from study_alias import forward

if __name__ == "__main__":
    forward(["study", "labels", "--task", "cinc2017"])
