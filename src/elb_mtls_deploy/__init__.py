"""elb-mtls-deploy: HTTPS with mutual TLS on Huawei Cloud ELB from one reviewed YAML spec."""

__version__ = "0.1.0"
