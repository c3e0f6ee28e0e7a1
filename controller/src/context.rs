//! What every controller is handed: the API client, the shared informers,
//! the clock, the configuration and an event recorder.

use std::sync::Arc;

use skiff_client::{Client, EventRecorder};

use crate::clock::SharedClock;
use crate::config::ControllerConfig;
use crate::informers::SharedInformers;

#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub informers: Arc<SharedInformers>,
    pub clock: SharedClock,
    pub config: Arc<ControllerConfig>,
    pub recorder: EventRecorder,
}

impl Context {
    pub fn new(
        client: Client,
        config: ControllerConfig,
        clock: SharedClock,
        component: &str,
    ) -> Context {
        Context {
            informers: Arc::new(SharedInformers::new(&client)),
            recorder: EventRecorder::new(client.clone(), component, None),
            client,
            clock,
            config: Arc::new(config),
        }
    }
}
