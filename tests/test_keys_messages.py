import pytest

from trustchain_lab.chain import Keys, MessageError, PartialMessage, TaskMessage, check_name
from trustchain_lab.chain.messages import decode, encode_partial, encode_task


def test_key_and_channel_names_share_one_prefix():
    keys = Keys("lab")
    assert keys.task_channel("Foo") == "lab:task:Foo"
    assert keys.reply_channel("gw") == "lab:reply:gw"
    assert keys.claim_list("Foo", "r1") == "lab:claims:{Foo-r1}"
    assert keys.pattern() == "lab:*"


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "empty"),
        ("x" * 129, "at most 128"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
        ("a\x01b", "control"),
        ("a*", "glob"),
        ("a?", "glob"),
        ("a[1]", "glob"),
        (3, "a str"),
    ],
)
def test_bad_names_are_refused_naming_the_rule(name, rule):
    with pytest.raises(ValueError, match=rule):
        check_name(name)


def test_good_names_pass_unchanged():
    assert check_name("Payments.v2-eu_1:x") == "Payments.v2-eu_1:x"
    with pytest.raises(ValueError, match="key prefix"):
        Keys("bad prefix")


def test_task_and_partial_round_trip():
    task = TaskMessage("Foo", "r1", "tc:reply:gw", {"a": [1, 2]}, parent="r0", claim_ttl=9)
    assert decode(encode_task(task)) == task
    partial = PartialMessage("r1", "w1", ok=False, error="boom")
    assert decode(encode_partial(partial)) == partial


def test_payload_json_cannot_hold_is_a_type_error():
    with pytest.raises(TypeError, match="JSON"):
        encode_task(TaskMessage("Foo", "r1", "c", {1, 2}))
    with pytest.raises(TypeError, match="JSON"):
        encode_task(TaskMessage("Foo", "r1", "c", float("nan")))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"type":"task","v":99}', "version"),
        (b'{"type":"task","v":1,"mode":"claim"}', "version"),
        (b'{"type":"nope","v":2}', "unknown message"),
        (b'{"type":"task","v":2,"variant":"seed","claim_ttl":5}', "task"),
        (b'{"type":"task","v":2,"variant":"x"}', "variant"),
        (b'{"type":"partial","v":2,"request_id":"r","worker":"w","ok":"yes"}', "ok"),
    ],
)
def test_malformed_messages_raise_message_error(data, why):
    with pytest.raises(MessageError, match=why):
        decode(data)
