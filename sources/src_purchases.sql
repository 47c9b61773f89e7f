{{ kafka_json_source('purchases') }}
