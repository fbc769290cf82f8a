"""Where the deploy files and the test fixtures are."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEPLOY = REPO / "deploy"
FIXTURES = HERE / "fixtures"
CHART = DEPLOY / "helm" / "annexa"
KUSTOMIZE = DEPLOY / "kubernetes"
