"""Noisy-label study on CinC 2017 (flipped labels, self-learning correction), per seed: ``leanecg study noisy-labels``.

Kept under its earlier name; see :mod:`study_alias` for the argument spelling it accepts.
"""

from study_alias import forward

if __name__ == "__main__":
    forward(["study", "noisy-labels"])
