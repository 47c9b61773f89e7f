{{ kafka_json_source('clicks') }}
