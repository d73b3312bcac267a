//! MQTT 3.1.1 section 6: MQTT over WebSockets. The same statements as 5.0's section 6; the
//! bodies are shared (`v5::websocket`), run with 3.1.1 packets.

use crate::v5::websocket::{
    packets_ignore_frame_edges, subprotocol_mqtt_selected, text_frame_closes,
};
use crate::{Capability, Scenario, Version::V3_1_1};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V3_1_1,
            "v311.websocket.text_frame_closes",
            &["MQTT-6.0.0-1"],
            text_frame_closes,
        )
        .needs(Capability::WebSocket),
        Scenario::server(
            V3_1_1,
            "v311.websocket.packets_ignore_frame_edges",
            &["MQTT-6.0.0-2"],
            packets_ignore_frame_edges,
        )
        .needs(Capability::WebSocket),
        Scenario::server(
            V3_1_1,
            "v311.websocket.subprotocol_mqtt_selected",
            &["MQTT-6.0.0-4"],
            subprotocol_mqtt_selected,
        )
        .needs(Capability::WebSocket),
    ]
}
