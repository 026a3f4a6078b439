from poolbench.redact import MASK, is_secret_name, redact_mapping, redact_text


def test_secret_names() -> None:
    for name in ("SMTP_PASSWORD", "smtp_password", "API_KEY", "github_token", "MySecret"):
        assert is_secret_name(name), name
    for name in ("SMTP_USER", "workers", "EMAIL_WORKER_COUNT"):
        assert not is_secret_name(name), name


def test_redact_mapping_masks_nested_values_and_keeps_empty_ones() -> None:
    doc = {"SMTP_PASSWORD": "hunter2", "user": "bob", "env": {"API_KEY": "k1"}, "TOKEN": ""}
    assert redact_mapping(doc) == {
        "SMTP_PASSWORD": MASK,
        "user": "bob",
        "env": {"API_KEY": MASK},
        "TOKEN": "",
    }


def test_redact_text_replaces_every_occurrence() -> None:
    assert redact_text("auth hunter2 then hunter2!", ["hunter2", ""]) == f"auth {MASK} then {MASK}!"
