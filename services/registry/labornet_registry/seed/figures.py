"""The real network's figures that the synthetic one follows: its size,
the roster's columns, when provinces joined, and the shares of agents with
each optional detail."""

from __future__ import annotations

NETWORK_GRADUATES = 725
NETWORK_VOLUNTEERS_THAILAND = 7_746
NETWORK_VOLUNTEERS_ABROAD = 408
# Graduates in the central region in the real network (issue 4); a network
# of another size keeps the same share.
NETWORK_CENTRAL_GRADUATES = 126

ROSTER_COLUMNS: tuple[str, ...] = (
    "kind",
    "first_name_th",
    "last_name_th",
    "first_name_en",
    "last_name_en",
    "national_id",
    "phone",
    "email",
    "line_user_id",
    "languages",
    "province_code",
    "district",
    "subdistrict",
    "abroad_country",
    "abroad_city",
    "start_date",
    "term_end",
)

GRADUATE = "labour_graduate"
VOLUNTEER = "labour_volunteer"

# Yala, Narathiwat and Pattani, where the network began: they weigh double
# when graduates are shared out, and their first graduates started in 2010.
DEEP_SOUTH = ("TH-94", "TH-95", "TH-96")
DEEP_SOUTH_WEIGHT = 2
NETWORK_FIRST_YEAR = 2010
# Other provinces joined between these years; every province by 2024.
EXPANSION_YEARS = (2012, 2024)
LAST_START_YEAR = 2025
# Exponents on a uniform draw of a graduate's start within the province's
# years: above 1 leans early (deep south), below 1 leans late (elsewhere).
DEEP_SOUTH_GROWTH = 1.5
EXPANSION_GROWTH = 0.5
VOLUNTEER_TERM_YEARS = 4
# Volunteers are appointed for four-year terms, so most on a roster started
# recently; older ones are still listed with a term that has run out.
VOLUNTEER_START_YEARS = tuple(range(2012, 2026))
VOLUNTEER_START_WEIGHTS = (1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 6, 9, 10, 10)

# A few subdistricts have no volunteer at any time (posts fall vacant).
VACANT_SUBDISTRICT_SHARE = 0.01
# Second volunteers go to the big subdistricts: provincial seats (district
# code ending 01) and Bangkok.
SEAT_WEIGHT = 3
BANGKOK_WEIGHT = 2

# Shares of agents with each optional detail.
GRADUATE_ENGLISH_NAME = 0.55
VOLUNTEER_ENGLISH_NAME = 0.38
GRADUATE_EMAIL = 0.6
VOLUNTEER_EMAIL = 0.25
GRADUATE_LINE = 0.9
VOLUNTEER_LINE = 0.6
ABROAD_LINE = 0.8
ABROAD_LOCAL_PHONE = 0.6
GRADUATE_SPEAKS_ENGLISH = 0.7
VOLUNTEER_SPEAKS_ENGLISH = 0.12
# Graduates are more often chosen for the languages of their area.
GRADUATE_LANGUAGE_FACTOR = 1.5
PROVINCE_WIDE_ONE = 0.25
PROVINCE_WIDE_MANY = 0.08
