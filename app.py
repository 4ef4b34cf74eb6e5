"""The product's front door: ``streamlit run app.py``.

Builds ``st.navigation`` over the thin pages in ``app_pages/``; every page calls library code
(serving/, bayes/, cnn/labs/) and draws what comes back.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"

# (page file, title, icon, library module the page needs): a lab page appears once its lab exists.
LAB_PAGES = (
    ("lab_init.py", "Weight initialization", ":material/scatter_plot:", "cnn.labs.init"),
    ("lab_optim.py", "Optimizer race", ":material/speed:", "cnn.labs.optim_race"),
    ("lab_regularization.py", "Regularization", ":material/tune:", "cnn.labs.reg_lab"),
    ("lab_conv.py", "Convolution & pooling", ":material/grid_on:", "cnn.labs.conv_lab"),
)


def _available(page_file: str, module: str) -> bool:
    return (PAGES_DIR / page_file).exists() and importlib.util.find_spec(module) is not None


def build_pages() -> dict[str, list[st.Page]]:
    """The navigation sections; pages whose library is missing are left out."""
    pages = {
        "Digits": [
            st.Page(
                PAGES_DIR / "draw.py", title="Draw a digit", icon=":material/draw:", default=True
            ),
            st.Page(
                PAGES_DIR / "teach.py",
                title="Teach it your handwriting",
                icon=":material/school:",
            ),
        ],
    }
    if (PAGES_DIR / "bayes_explorer.py").exists():
        pages["Bayes"] = [
            st.Page(
                PAGES_DIR / "bayes_explorer.py",
                title="Bayesian regression",
                icon=":material/ssid_chart:",
            ),
        ]
    labs = [
        st.Page(PAGES_DIR / page_file, title=title, icon=icon)
        for page_file, title, icon, module in LAB_PAGES
        if _available(page_file, module)
    ]
    if labs:
        pages["Course labs"] = labs
    return pages


def run() -> None:
    st.set_page_config(page_title="bayes-cnn-lab", page_icon=":material/neurology:", layout="wide")
    st.navigation(build_pages()).run()


if __name__ == "__main__":
    run()
