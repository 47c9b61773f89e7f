{{ kafka_json_source('device_changes') }}
