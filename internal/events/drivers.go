package events

// The gocloud.dev/pubsub drivers of the cloud brokers: each registers its
// URL scheme with pubsub.OpenTopic.
import (
	_ "gocloud.dev/pubsub/awssnssqs" // awssqs://, awssns://
	_ "gocloud.dev/pubsub/azuresb"   // azuresb://
	_ "gocloud.dev/pubsub/gcppubsub" // gcppubsub://
)
