"""The new-evaluation page's starting points: valid inputs with a name, description, prompt and trigger."""

import pytest

from webapp.services import evaluation_templates, evaluations
from webapp.web.filters import preview


@pytest.mark.parametrize("template", evaluation_templates.TEMPLATES, ids=lambda template: template.slug)
def test_each_template_is_a_valid_create_input_with_a_trigger(template):
    data = {
        "name": template.name,
        "description": template.description,
        "prompt": template.prompt,
        "conditions": template.conditions,
    }
    cleaned = evaluations.validate_input(data, partial=False)
    assert cleaned["name"] == template.name and cleaned["prompt"] == template.prompt
    assert template.description and "{{input}}" in template.prompt and "{{output}}" in template.prompt
    assert template.conditions, "a template names a sensible trigger, not 'everything' by omission"
    assert template.trigger.endswith("generations")


def test_the_issue_s_starting_points_are_offered_once_each():
    assert [template.name for template in evaluation_templates.TEMPLATES] == [
        "Hallucination",
        "Toxicity",
        "Relevance",
        "PII leakage",
        "Prompt injection",
        "Tone",
    ]
    assert len(evaluation_templates.BY_SLUG) == len(evaluation_templates.TEMPLATES)
    assert evaluation_templates.BY_SLUG["pii-leakage"].trigger == "100% of matching generations"
    assert evaluation_templates.BY_SLUG["relevance"].trigger == "10% of generations"


def test_each_template_s_prompt_preview_says_what_it_judges():
    # The list shows a prompt's first 60 characters (evaluations/_row.html): a shared preamble first would
    # give every row made from a template the same preview.
    previews = [preview(template.prompt, 60) for template in evaluation_templates.TEMPLATES]
    assert len(set(previews)) == len(previews)
