"""Few-shot study on CinC 2017 (prototypical networks, held-out class), per seed: ``leanecg study fewshot``.

Kept under its earlier name; see :mod:`study_alias` for the argument spelling it accepts.
"""

from study_alias import forward

if __name__ == "__main__":
    forward(["study", "fewshot"])
