"""Every kind of constraint a botocore model states, checked server-side on the real shapes.

Each test names the model shape it uses and first checks the shape still says what the test
relies on, so a model update that changes a constraint fails here loudly, not silently.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from connectmail.aws import ServiceModel, load_service_model
from connectmail.aws.validate import MAX_DEPTH, MAX_PROBLEMS_COLLECTED, InputValidator, summarize
from connectmail.errors import ServiceError


def check(validator: InputValidator, shape: str, value: Any) -> tuple[Any, list[str]]:
    """The converted value and the problems found, for a value at member path `Member`."""
    problems: list[str] = []
    converted = validator.checker(shape)(value, "Member", problems)
    return converted, problems


def constraints(model: ServiceModel, shape: str) -> dict[str, Any]:
    found = model.shape(shape)
    return {k: found[k] for k in ("type", "min", "max", "pattern", "enum") if k in found}


@pytest.fixture(scope="module")
def signer() -> InputValidator:
    """signer's model has a blob with length bounds (connect's and qconnect's have none)."""
    return InputValidator(load_service_model("signer"))


@pytest.fixture(scope="module")
def qconnect(qconnect_model: ServiceModel) -> InputValidator:
    return InputValidator(qconnect_model)


# -- strings -------------------------------------------------------------------------------


def test_string_type_and_length(connect_model: ServiceModel, connect_validator: Any) -> None:
    assert constraints(connect_model, "InstanceId") == {"type": "string", "min": 1, "max": 100}
    assert check(connect_validator, "InstanceId", "x" * 100) == ("x" * 100, [])
    assert check(connect_validator, "InstanceId", 5)[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be of type string"
    ]
    assert check(connect_validator, "InstanceId", "")[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    ]
    assert check(connect_validator, "InstanceId", "x" * 101)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have length less than or equal to 100"
    ]


def test_string_length_counts_characters_not_bytes(connect_validator: Any) -> None:
    # InstanceId allows 100: 100 characters of 4 UTF-8 bytes each still fit.
    assert check(connect_validator, "InstanceId", "😀" * 100)[1] == []
    assert len(check(connect_validator, "InstanceId", "😀" * 101)[1]) == 1


@pytest.mark.parametrize("value", [None, True, 1.5, [], {}, ["x"]])
def test_string_refuses_other_json_types(connect_validator: Any, value: Any) -> None:
    assert check(connect_validator, "ContactId", value)[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be of type string"
    ]


def test_nul_is_refused_in_any_string(connect_validator: Any) -> None:
    # PostgreSQL cannot store NUL in text, and no AWS string member means it.
    assert check(connect_validator, "Description", "a\x00b")[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must not contain NUL characters"
    ]


def test_enum(connect_model: ServiceModel, connect_validator: Any) -> None:
    assert constraints(connect_model, "Channel")["enum"] == ["VOICE", "CHAT", "TASK", "EMAIL"]
    assert check(connect_validator, "Channel", "EMAIL") == ("EMAIL", [])
    assert check(connect_validator, "Channel", "email")[1] == [
        "Value 'email' at 'Member' failed to satisfy constraint: "
        "Member must satisfy enum value set: [VOICE, CHAT, TASK, EMAIL]"
    ]


def test_pattern_message_names_the_pattern_not_a_sensitive_value(
    connect_model: ServiceModel, connect_validator: Any
) -> None:
    shape = connect_model.shape("DirectoryAlias")
    assert shape["sensitive"] is True
    _, problems = check(connect_validator, "DirectoryAlias", "d-secret")
    assert problems == [
        "Value at 'Member' failed to satisfy constraint: Member must satisfy regular "
        f"expression pattern: {shape['pattern']}"
    ]
    assert "secret" not in problems[0]


# -- numbers -------------------------------------------------------------------------------


def test_integer_range(connect_model: ServiceModel, connect_validator: Any) -> None:
    assert constraints(connect_model, "MaxResult10") == {"type": "integer", "min": 1, "max": 10}
    assert check(connect_validator, "MaxResult10", 10) == (10, [])
    assert check(connect_validator, "MaxResult10", 0)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    ]
    assert check(connect_validator, "MaxResult10", 11)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have value less than or equal to 10"
    ]


@pytest.mark.parametrize("value", ["5", 5.0, 5.5, True, None, [5]])
def test_integer_type(connect_validator: Any, value: Any) -> None:
    assert check(connect_validator, "MaxResult10", value)[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be of type integer"
    ]


def test_integer_without_bounds_is_still_32_bits(
    connect_model: ServiceModel, connect_validator: Any
) -> None:
    assert constraints(connect_model, "ExpiryDurationInMinutes") == {"type": "integer"}
    assert check(connect_validator, "ExpiryDurationInMinutes", 2**31 - 1)[1] == []
    assert check(connect_validator, "ExpiryDurationInMinutes", -(2**31))[1] == []
    assert check(connect_validator, "ExpiryDurationInMinutes", 2**31)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have value less than or equal to 2147483647"
    ]
    assert len(check(connect_validator, "ExpiryDurationInMinutes", -(2**31) - 1)[1]) == 1


def test_long_is_64_bits(connect_model: ServiceModel, connect_validator: Any) -> None:
    assert constraints(connect_model, "Long") == {"type": "long"}
    assert check(connect_validator, "Long", 2**40)[1] == []
    assert check(connect_validator, "Long", 2**63)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have value less than or equal to 9223372036854775807"
    ]
    assert constraints(connect_model, "QueuePriority")["min"] == 1
    assert len(check(connect_validator, "QueuePriority", 0)[1]) == 1


def test_float_and_double(connect_model: ServiceModel, connect_validator: Any) -> None:
    assert constraints(connect_model, "ProficiencyLevel") == {
        "type": "float",
        "min": 1.0,
        "max": 5.0,
    }
    assert check(connect_validator, "ProficiencyLevel", 2.5) == (2.5, [])
    assert check(connect_validator, "ProficiencyLevel", 3) == (3, [])  # JSON has one number
    assert len(check(connect_validator, "ProficiencyLevel", 0.5)[1]) == 1
    assert len(check(connect_validator, "ProficiencyLevel", 5.5)[1]) == 1
    for wrong in ("2.5", True, None):
        assert check(connect_validator, "ProficiencyLevel", wrong)[1] == [
            "Value at 'Member' failed to satisfy constraint: Member must be of type number"
        ]
    assert constraints(connect_model, "PositiveDouble") == {"type": "double", "min": 0}
    assert check(connect_validator, "PositiveDouble", 0.0)[1] == []
    assert len(check(connect_validator, "PositiveDouble", -0.1)[1]) == 1


# -- booleans, timestamps, blobs -----------------------------------------------------------


@pytest.mark.parametrize("value", ["true", 1, 0, None])
def test_boolean(connect_model: ServiceModel, connect_validator: Any, value: Any) -> None:
    assert constraints(connect_model, "InboundCallsEnabled") == {"type": "boolean"}
    assert check(connect_validator, "InboundCallsEnabled", True) == (True, [])
    assert check(connect_validator, "InboundCallsEnabled", value)[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be of type boolean"
    ]


@pytest.mark.parametrize(
    "value",
    [
        1700000000,
        1700000000.0,
        "1700000000",
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20+00:00",
        "2023-11-15T00:13:20+02:00",
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),  # parsed already, from a header
    ],
)
def test_timestamp_forms(connect_validator: Any, value: Any) -> None:
    converted, problems = check(connect_validator, "Timestamp", value)
    assert problems == []
    assert converted == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "", True, None, [], 1e20, "1e400", "nan"])
def test_timestamp_refused(connect_validator: Any, value: Any) -> None:
    assert check(connect_validator, "Timestamp", value)[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be a timestamp"
    ]


def test_blob_is_base64_with_bounds_on_the_decoded_bytes(signer: InputValidator) -> None:
    model = load_service_model("signer")
    assert constraints(model, "Payload") == {"type": "blob", "min": 1, "max": 4096}
    assert check(signer, "Payload", base64.b64encode(b"hello").decode()) == (b"hello", [])
    at_max = base64.b64encode(b"x" * 4096).decode()
    assert check(signer, "Payload", at_max)[1] == []
    over = base64.b64encode(b"x" * 4097).decode()
    assert check(signer, "Payload", over)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    ]
    assert len(check(signer, "Payload", "")[1]) == 1
    for wrong in ("not base64!", "aGVsbG8", 5, None):
        assert check(signer, "Payload", wrong)[1] == [
            "Value at 'Member' failed to satisfy constraint: "
            "Member must be base64-encoded binary data"
        ]


# -- lists, maps, structures, unions, documents --------------------------------------------


def test_list_length_and_items(connect_model: ServiceModel, connect_validator: Any) -> None:
    assert constraints(connect_model, "ContactTagKeys") == {"type": "list", "min": 1, "max": 6}
    assert check(connect_validator, "ContactTagKeys", ["a", "b"]) == (["a", "b"], [])
    assert check(connect_validator, "ContactTagKeys", [])[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    ]
    assert check(connect_validator, "ContactTagKeys", ["a"] * 7)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have length less than or equal to 6"
    ]
    assert check(connect_validator, "ContactTagKeys", ["a", 2])[1] == [
        "Value at 'Member.2' failed to satisfy constraint: Member must be of type string"
    ]
    assert check(connect_validator, "ContactTagKeys", "a")[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be a list"
    ]


def test_map_size_keys_and_values(connect_model: ServiceModel, connect_validator: Any) -> None:
    assert constraints(connect_model, "TagMap") == {"type": "map", "min": 1, "max": 50}
    assert check(connect_validator, "TagMap", {"Team": "mail"}) == ({"Team": "mail"}, [])
    assert check(connect_validator, "TagMap", {})[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have size greater than or equal to 1"
    ]
    assert check(connect_validator, "TagMap", {f"k{n}": "v" for n in range(51)})[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        "Member must have size less than or equal to 50"
    ]
    _, problems = check(connect_validator, "TagMap", {"aws:reserved": "v"})
    assert problems[0].startswith(
        "Value at 'Member.key' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern:"
    )
    assert check(connect_validator, "TagMap", {"Team": "v" * 257})[1] == [
        "Value at 'Member.Team' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    ]
    assert check(connect_validator, "TagMap", {"Team": None})[1] == [
        "Value null at 'Member.Team' failed to satisfy constraint: Member must not be null"
    ]
    assert check(connect_validator, "TagMap", ["Team"])[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be a map"
    ]


def test_structure_required_members_and_unknown_members(
    connect_model: ServiceModel, connect_validator: Any
) -> None:
    assert connect_model.shape("Reference")["required"] == ["Type"]
    value = {"Value": "https://example.com", "Type": "URL", "Unknown": {"ignored": True}}
    assert check(connect_validator, "Reference", value) == (
        {"Value": "https://example.com", "Type": "URL"},
        [],
    )
    assert check(connect_validator, "Reference", {"Value": "x", "Type": None})[1] == [
        "Value null at 'Member.Type' failed to satisfy constraint: Member must not be null"
    ]
    assert check(connect_validator, "Reference", [])[1] == [
        "Value at 'Member' failed to satisfy constraint: Member must be a structure"
    ]


def test_union_takes_exactly_one_member(
    connect_model: ServiceModel, connect_validator: Any
) -> None:
    shape = connect_model.shape("ParticipantTimerValue")
    assert shape.get("union") is True
    assert sorted(shape["members"]) == [
        "ParticipantTimerAction",
        "ParticipantTimerDurationInMinutes",
    ]
    assert (
        check(connect_validator, "ParticipantTimerValue", {"ParticipantTimerAction": "Unset"})[1]
        == []
    )
    exactly_one = [
        "Value at 'Member' failed to satisfy constraint: Member must have exactly one member set"
    ]
    assert check(connect_validator, "ParticipantTimerValue", {})[1] == exactly_one
    both = {"ParticipantTimerAction": "Unset", "ParticipantTimerDurationInMinutes": 5}
    assert check(connect_validator, "ParticipantTimerValue", both)[1] == exactly_one


@pytest.mark.parametrize("value", [{"a": [1, {"b": None}]}, [1, 2], "text", 3.5, True])
def test_document_takes_any_json(qconnect_model: ServiceModel, qconnect: Any, value: Any) -> None:
    assert qconnect_model.shape("JSONDocument").get("document") is True
    assert check(qconnect, "JSONDocument", value) == (value, [])


def test_document_nesting_is_bounded(qconnect: Any) -> None:
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = {"a": [deep]} if isinstance(deep, str) else [deep]
    assert check(qconnect, "JSONDocument", deep)[1] == [
        "Value at 'Member' failed to satisfy constraint: "
        f"Member must not nest more than {MAX_DEPTH} levels deep"
    ]


def test_recursive_shapes_nest_at_most_max_depth(connect_validator: Any) -> None:
    """EmailAddressSearchCriteria contains itself; the checker must not follow it forever."""

    def criteria(levels: int) -> dict[str, Any]:
        found: dict[str, Any] = {"StringCondition": {"FieldName": "name", "Value": "x"}}
        for _ in range(levels):
            found = {"OrConditions": [found]}
        return found

    assert check(connect_validator, "EmailAddressSearchCriteria", criteria(10))[1] == []
    # Each level is two path segments (the member and the list item); 1000 levels would
    # exhaust Python's stack without the bound.
    _, problems = check(connect_validator, "EmailAddressSearchCriteria", criteria(1000))
    assert len(problems) == 1
    assert problems[0].endswith(f"Member must not nest more than {MAX_DEPTH} levels deep")


# -- paths and summaries -------------------------------------------------------------------


def test_nested_paths_name_the_member(connect_protocol: Any, connect_model: ServiceModel) -> None:
    operation = connect_model.operations["StartOutboundEmailContact"]
    body = {
        "InstanceId": "i",
        "ContactId": "c",
        "DestinationEmailAddress": {"EmailAddress": "jane@example.org"},
        "AdditionalRecipients": {
            "CcEmailAddresses": [{"EmailAddress": "a@example.org"}, {"EmailAddress": "no-at"}]
        },
        "EmailMessage": {"MessageSourceType": "RAW", "RawMessage": {"Subject": "", "Body": "b"}},
    }
    error = parse_error(connect_protocol, operation, body, {})
    assert error.code == "InvalidRequestException"
    assert error.message.startswith("3 validation errors detected: ")
    assert (
        "Value at 'AdditionalRecipients.CcEmailAddresses.2.EmailAddress' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern" in error.message
    )
    assert (
        "Value at 'EmailMessage.RawMessage.Subject' failed to satisfy constraint: Member must "
        "have length greater than or equal to 1" in error.message
    )
    assert (
        "Value null at 'EmailMessage.RawMessage.ContentType' failed to satisfy constraint: "
        "Member must not be null" in error.message
    )


def test_summary_counts_every_problem_and_shows_ten() -> None:
    problems = [f"problem {n}" for n in range(12)]
    summary = summarize(problems)
    assert summary.startswith("12 validation errors detected: problem 0; problem 1;")
    assert "problem 9" in summary and "problem 10" not in summary
    assert summarize(["only"]) == "1 validation error detected: only"


def parse_error(protocol: Any, operation: Any, body: Any, uri: dict[str, str]) -> ServiceError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(ServiceError) as caught:
        protocol.parse(operation, uri, {}, {}, raw)
    return caught.value


def test_problems_stop_being_collected_past_a_hundred(connect_validator: Any) -> None:
    """A body of a million bad items costs a hundred problem strings, not a million."""
    _, problems = check(connect_validator, "TagMap", {f"k{n}": n for n in range(10)})
    assert len(problems) == 10
    _, problems = check(connect_validator, "AttributeNameList", list(range(100_000)))
    assert len(problems) == MAX_PROBLEMS_COLLECTED
    _, problems = check(connect_validator, "Attributes", {f"k{n}": n for n in range(100_000)})
    assert len(problems) == MAX_PROBLEMS_COLLECTED
    assert summarize(problems).startswith("100 or more validation errors detected: ")
