"""The script of a citizen's text decides the language notices go out in
when the citizen did not choose one."""

from __future__ import annotations

import pytest

from labornet_shared.written_language import written_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("นายจ้างค้างค่าจ้าง 2 เดือน", "th"),
        ("โดน lay off ไม่ได้ค่าชดเชย HR บอกให้ไป claim เอง", "th"),
        ("ကျွန်တော့်ကို အလုပ်ရှင်က လစာမပေးဘူး", "my"),
        # a Myanmar worker names the Thai province and office in Thai
        ("လစာမရဘူး ชลบุรี သက်တမ်းကုန်", "my"),
        ("My employer has not paid my wages for two months", "en"),
        ("Employer no pay ค่าแรง", "th"),
        ("0812345678 !!", None),
        ("", None),
    ],
)
def test_the_script_decides_the_language(text: str, language: str | None) -> None:
    assert written_language(text) == language
