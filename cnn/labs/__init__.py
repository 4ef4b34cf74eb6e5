"""The course's experiments: weight initialization, optimizers, regularization, convolution.

Each lab is a function returning a ``LabResult`` (JSON-ready ``numbers`` + matplotlib
``figures``), so the CLI (``python -m cnn init-lab|optim-lab|reg-lab|conv-lab``) and the app
page call the same code:

- ``init.init_lab`` / ``init.epoch0`` / ``init.course_claims``: the BLOCK model at epoch 0, per
  layer over 10 seeds; ``init_train``: the "does it train?" run.
- ``optim_race.optim_lab``: the course's optimizers (``optimizers``) swept over learning rates
  and seeds on the ball data (``stacked``: many small nets trained as one), RProp full vs
  mini-batch, Adam's early steps, paths on 2-D test functions.
- ``reg_lab.reg_lab``: L1 vs L2 (``regularization``), the lambda path with a proximal L1 step and
  AdamW vs L2 under Adam (``reg_path``), dropout.
- ``conv_lab.conv_lab``: NumPy conv/max-pool (``conv``) on the course's worked examples.
- ``labels``: the numbers as rows a person reads (the app pages); ``report``: results and PNGs.

docs/LABS.md lists every numeric claim of the handout's sections and the test that checks it.
"""
