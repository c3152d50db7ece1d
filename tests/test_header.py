import pytest

from saxs import Header, InputError


def test_case_insensitive_lookup_keeps_spelling():
    h = Header({"Psize_1": b"0.025", "Dummy": "-10", "DDummy": "0.1"}, source="f.edf")
    assert "PSize_1" in h
    assert h["PSIZE_1"] == "0.025"
    assert list(h) == ["Psize_1", "Dummy", "DDummy"]
    assert h.first_key("PSize_1") == "Psize_1"


def test_typed_accessors_and_units():
    h = Header({"ShutterOpeningTime": "0.005 s", "BSize_1": "2", "Title": " x "})
    assert h.number("ShutterOpeningTime", kind="time") == 0.005
    assert h.integer("BSize_1") == 2
    assert h.title == "x"
    assert h.number("Missing", default=None) is None


def test_dummy_zero_means_none():
    assert Header({"Dummy": "0", "DDummy": "1"}).dummy is None
    assert Header({}).dummy is None
    h = Header({"Dummy": "-10", "DDummy": "-0.1"})
    assert h.dummy == -10.0
    assert h.delta_dummy == 0.1


def test_missing_key_names_key_and_source():
    h = Header({}, source="raw/x.h5")
    with pytest.raises(InputError, match=r"raw/x\.h5.*'SampleDistance'"):
        h.number("SampleDistance")


def test_bad_number_names_key():
    h = Header({"Center_1": "abc"}, source="f.edf")
    with pytest.raises(InputError, match=r"f\.edf.*'Center_1'"):
        h.number("Center_1")
    with pytest.raises(InputError, match="whole number"):
        Header({"BSize_1": "1.5"}).integer("BSize_1")


def test_merged_overrides_case_insensitively():
    h = Header({"SampleDistance": "1.0", "Title": "a"}).merged({"sampledistance": 2.5})
    assert h.number("SampleDistance") == 2.5
    assert h.title == "a"
    assert len(h) == 2
