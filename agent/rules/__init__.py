"""The rule engine: declarative YAML rules (JMESPath over raw API JSON) and Python rules."""

from agent.rules.engine import CompiledRule, RuleSet, compile_rules
from agent.rules.loader import load_rules
from agent.rules.spec import Rule

__all__ = ["CompiledRule", "Rule", "RuleSet", "compile_rules", "load_rules"]
