import pytest

from bert_cls.modeling.schedules import WarmupLinearDecay


def test_warmup_then_linear_decay():
    schedule = WarmupLinearDecay(1e-4, total_steps=100, warmup_steps=10)
    assert float(schedule(0)) == 0.0
    assert float(schedule(5)) == pytest.approx(5e-5)
    assert float(schedule(10)) == pytest.approx(1e-4)
    assert float(schedule(55)) == pytest.approx(5e-5)
    assert float(schedule(100)) == 0.0 and float(schedule(150)) == 0.0
    assert WarmupLinearDecay(**schedule.get_config()).peak == 1e-4
