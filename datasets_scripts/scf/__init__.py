"""SCF: spoof-aware captioning and filtering (I-FAS paper §4) on the data contract.

Public API (see each module):
- `keywords`: `FAMILIES` (the keyword dictionary K, one `Family` per attack family and live), `family_of`.
- `caption_filter`: `judge_caption` / `keep_caption` (the filter), `family_terms`, `live_claims`, `spoof_cues`.
- `template_captioner`: `template_caption`, `template_caption_for_row` (offline fallback, `caption_source="template"`).
- `pipeline_captioner`: `PipelineCaptioner` (any HF image-text-to-text model), `build_prompt`, `PROMPT_MODES`.
- `flow`: `run_scf` (caption -> filter -> optional C_S -> template fallback); CLI in `__main__`.
- `consistency`: `judge_answer`, `aggregate_by_attack_type` (explanation consistency of generated answers).
- `report`: `build_report`, `write_report` (kept ratios per corpus and attack type).
"""

from datasets_scripts.scf.caption_filter import Verdict, judge_caption, keep_caption
from datasets_scripts.scf.consistency import AnswerJudgment, aggregate_by_attack_type, judge_answer
from datasets_scripts.scf.keywords import FAMILIES, Family, family_of
from datasets_scripts.scf.template_captioner import template_caption, template_caption_for_row

__all__ = [
    "FAMILIES", "AnswerJudgment", "Family", "Verdict", "aggregate_by_attack_type", "family_of", "judge_answer",
    "judge_caption", "keep_caption", "template_caption", "template_caption_for_row",
]
