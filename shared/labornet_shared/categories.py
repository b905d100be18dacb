"""The ministry's vocabulary: agencies, case categories, channels, languages.

DESIGN.md's tables, defined once in code.
"""

from __future__ import annotations

AGENCIES: dict[str, str] = {
    "ops": "Office of the Permanent Secretary, Ministry of Labour",
    "doe": "Department of Employment",
    "dsd": "Department of Skill Development",
    "dlpw": "Department of Labour Protection and Welfare",
    "sso": "Social Security Office",
    "tosh": "Thailand Institute of Occupational Safety and Health",
}

# category -> the agency it is referred to by default
DEFAULT_AGENCY: dict[str, str] = {
    "job_seeking": "doe",
    "overseas_employment": "doe",
    "migrant_worker": "doe",
    "skill_training": "dsd",
    "skill_certification": "dsd",
    "unpaid_wages": "dlpw",
    "termination_severance": "dlpw",
    "working_conditions": "dlpw",
    "social_security_benefit": "sso",
    "social_security_membership": "sso",
    "work_injury": "sso",
    "workplace_safety": "tosh",
    "general_inquiry": "ops",
}

CATEGORIES: tuple[str, ...] = tuple(DEFAULT_AGENCY)

CHANNELS: tuple[str, ...] = (
    "web",
    "line",
    "phone",
    "walk_in",
    "field_agent",
    "open311",
)

LANGUAGES: tuple[str, ...] = ("th", "en", "my", "km", "lo")

CONTACT_CHANNELS: tuple[str, ...] = ("sms", "line", "email", "none")

# The two kinds of field agent (registry): paid labour graduates
# (บัณฑิตแรงงาน) and unpaid labour volunteers (อาสาสมัครแรงงาน, อสร.).
AGENT_KINDS: tuple[str, ...] = ("labour_graduate", "labour_volunteer")

AGENT_STATUSES: tuple[str, ...] = ("active", "suspended", "inactive")

# Languages a field agent may speak (ISO 639-1): Thai and English, the
# languages of the migrant workers in Thailand (Myanmar, Khmer, Lao, Malay,
# Vietnamese) and of the countries where Thai workers are.
AGENT_LANGUAGES: tuple[str, ...] = (
    "th",
    "en",
    "my",
    "km",
    "lo",
    "ms",
    "vi",
    "zh",
    "ja",
    "ko",
    "he",
    "ar",
    "id",
    "tl",
    "de",
    "fr",
    "ru",
    "hi",
)
