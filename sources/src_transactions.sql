{{ kafka_json_source('transactions') }}
