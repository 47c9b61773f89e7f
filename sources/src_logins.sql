{{ kafka_json_source('logins') }}
