"""Packaging beside pyproject.toml: ednax's config groups live at the repository's top level
(configs/, beside sample-configs/ and config-reference/) and ship inside the package as
`ednax/configs/`, where `ednax.config.overrides` finds them in an installed ednax."""

from setuptools import find_namespace_packages, setup

CONFIG_FOLDERS = ["", *(f".{name}" for name in find_namespace_packages("configs"))]

setup(
    packages=[
        *find_namespace_packages(include=["ednax*", "hydra_plugins*"]),
        *(f"ednax.configs{folder}" for folder in CONFIG_FOLDERS),
    ],
    package_dir={"ednax.configs": "configs"},
    package_data={"ednax.configs": ["**/*.yaml"]},
)
