"""`bayes bench`'s table says which variant is the project's method and what the others are."""

from __future__ import annotations

from bayes.bench import format_table


def _row(variant: str, speedup: float) -> dict:
    return {"sampler": "pymc", "variant": variant, "compile_s": 1.0, "sample_s": 2.0,
            "ess_bulk_min": 1000, "ess_tail_min": 900, "ess_bulk_per_s": 500, "divergences": 0,
            "r_hat_max": 1.0, "speedup_vs_naive": speedup}  # fmt: skip


def test_the_table_names_the_projects_method_and_the_control():
    rows = [_row("legendre+qr", 17.6), _row("monomial+direct", 1.0), _row("monomial+qr", 21.1)]
    text = format_table({"rows": rows})
    assert "| pymc | monomial+qr |" in text and "21.1x |" in text
    assert "legendre+qr is this project's method" in text
    assert "monomial+qr is a control, not a method" in text
    assert "monomial+direct is the naive model" in text
    only = format_table({"rows": [_row("legendre+qr", 17.6)]})
    assert "control" not in only  # notes only for the variants in the table
