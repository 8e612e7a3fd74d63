"""The AWS wire protocol, generic over botocore service models.

Routing, SigV4, rest-json parsing and serialization, constraint validation and error shapes
all come from the models; services plug in as a model plus handlers by operation name.
"""

from connectmail.aws.api import AwsApi, Handler, KeyStore, Principal, RequestContext, Service
from connectmail.aws.handlers import bind, operation
from connectmail.aws.model import ServiceModel, load_service_model

__all__ = [
    "AwsApi",
    "Handler",
    "KeyStore",
    "Principal",
    "RequestContext",
    "Service",
    "ServiceModel",
    "bind",
    "load_service_model",
    "operation",
]
