from poolbench.loadgen.schedule import parse_profile
from poolbench.run.point import _rate_text
from poolbench.scenario import expand, parse_scenario


def test_a_looped_scenario_profile_covers_the_whole_load() -> None:
    scenario = expand(
        parse_scenario(
            {
                "name": "loop",
                "load": {
                    "rate": [
                        {"rate": "10/s", "duration": "2s"},
                        {"rate": "30/s", "duration": "2s"},
                    ],
                    "duration": "6s",
                    "warmup": "1s",
                },
            }
        )
    )[0].scenario
    text = _rate_text(scenario)
    # 7 s of load over a 4 s cycle: two cycles, so the 10/s step comes back at 4 s.
    assert text == "steps:10/s:2s,30/s:2s,10/s:2s,30/s:2s"
    parse_profile(text)  # the load generator accepts it
