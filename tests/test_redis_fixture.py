import redis


def test_real_redis_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("probe", "1")
    assert client.get("probe") == b"1"
    assert client.config_get("save")["save"] == ""
    client.close()
