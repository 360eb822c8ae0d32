module github.com/legacy-auth/legacy-auth

go 1.26.8

require (
	github.com/Kong/go-pdk v0.11.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hashicorp/go-retryablehttp v0.7.8 // indirect
	github.com/patrickmn/go-cache v2.1.0+incompatible // indirect
	github.com/ugorji/go/codec v1.2.12 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	google.golang.org/protobuf v1.33.0 // indirect
)
